"""A shop schema of our own making with the shapes real databases have, and its catalog.

Shapes: addresses pointed at by customers, orders and payment cards (one address shared by two
customers); a composite key (order_item(order_id, item_no)); a table identified only by a
unique constraint over two columns (visit(email, last_visit)); a table with no key at all
(newsletter_log); two e-mail columns and a custom identity (loyalty_id) on one table;
telephone numbers stored as people type them; a self-referencing employee table.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    insert,
)

md = MetaData()
address = Table(
    "address",
    md,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("street", String(100), nullable=False),
    Column("city", String(60), nullable=False),
    Column("postcode", String(12)),
    Column("country", String(2), nullable=False),
)
employee = Table(
    "employee",
    md,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("email", String(120), nullable=False),
    Column("name", String(80), nullable=False),
    Column("manager_id", Integer, ForeignKey("employee.id")),
)
customer = Table(
    "customer",
    md,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("email", String(120), nullable=False),
    Column("alt_email", String(120)),
    Column("phone", String(40)),
    Column("first_name", String(40), nullable=False),
    Column("last_name", String(40), nullable=False),
    Column("loyalty_id", String(20), unique=True),
    Column("address_id", Integer, ForeignKey("address.id")),
    Column("created_at", DateTime, nullable=False),
)
orders = Table(
    "orders",
    md,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False),
    Column("shipping_address_id", Integer, ForeignKey("address.id")),
    Column("placed_at", DateTime, nullable=False),
    Column("total", Numeric(10, 2), nullable=False),
)
order_item = Table(
    "order_item",
    md,
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
    Column("item_no", Integer, nullable=False),
    Column("product", String(80), nullable=False),
    Column("qty", Integer, nullable=False),
    PrimaryKeyConstraint("order_id", "item_no"),
)
payment_card = Table(
    "payment_card",
    md,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False),
    Column("billing_address_id", Integer, ForeignKey("address.id")),
    Column("holder_name", String(80), nullable=False),
    Column("last4", String(4), nullable=False),
)
login = Table(
    "login",
    md,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False),
    Column("ts", DateTime, nullable=False),
    Column("ip", String(45), nullable=False),
)
visit = Table(
    "visit",
    md,
    Column("email", String(120), nullable=False),
    Column("last_visit", DateTime, nullable=False),
    Column("page", String(80), nullable=False),
    UniqueConstraint("email", "last_visit"),
)
service_request = Table(
    "service_request",
    md,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False),
    Column("handled_by", Integer, ForeignKey("employee.id")),
    Column("opened_at", DateTime, nullable=False),
    Column("subject", String(200), nullable=False),
)
newsletter_log = Table(
    "newsletter_log",
    md,
    Column("email", String(120), nullable=False),
    Column("sent_at", DateTime, nullable=False),
)

ANNA = "anna.berger@example.com"
ANNA_ALT = "a.berger@mail.example"
ANNA_PHONE_STORED = "+49 (0)351 123-4567"
BEN = "ben.krause@example.com"
CARL = "carl.vogt@example.com"  # shares Anna's home address
MIA = "mia.boss@shop.example"  # employee, manages Tom
TOM = "tom.agent@shop.example"  # employee, handles Anna's service request
SHARED_ADDRESS = 10
T0 = datetime(2026, 3, 1, 10, 0)


def seed(engine: Engine) -> None:
    """Create the schema and a handful of people with every shape in use."""
    md.create_all(engine)
    rows: list[tuple[Table, list[dict[str, Any]]]] = [
        (
            address,
            [
                {
                    "id": SHARED_ADDRESS,
                    "street": "Lindenweg 4",
                    "city": "Dresden",
                    "postcode": "01069",
                    "country": "DE",
                },
                {
                    "id": 11,
                    "street": "Packstation 101",
                    "city": "Leipzig",
                    "postcode": "04109",
                    "country": "DE",
                },
                {
                    "id": 12,
                    "street": "Am Markt 1",
                    "city": "Bautzen",
                    "postcode": "02625",
                    "country": "DE",
                },
                {
                    "id": 13,
                    "street": "Hauptstr. 9",
                    "city": "Görlitz",
                    "postcode": "02826",
                    "country": "DE",
                },
            ],
        ),
        (
            employee,
            [
                {"id": 1, "email": MIA, "name": "Mia Boss", "manager_id": None},
                {"id": 2, "email": TOM, "name": "Tom Agent", "manager_id": 1},
            ],
        ),
        (
            customer,
            [
                {
                    "id": 1,
                    "email": ANNA,
                    "alt_email": ANNA_ALT,
                    "phone": ANNA_PHONE_STORED,
                    "first_name": "Anna",
                    "last_name": "Berger",
                    "loyalty_id": "LOY-7781",
                    "address_id": SHARED_ADDRESS,
                    "created_at": T0,
                },
                {
                    "id": 2,
                    "email": BEN,
                    "alt_email": None,
                    "phone": "0351 9876543",
                    "first_name": "Ben",
                    "last_name": "Krause",
                    "loyalty_id": None,
                    "address_id": 13,
                    "created_at": T0,
                },
                {
                    "id": 3,
                    "email": CARL,
                    "alt_email": None,
                    "phone": "+1 (650) 644-3358",
                    "first_name": "Carl",
                    "last_name": "Vogt",
                    "loyalty_id": "LOY-1002",
                    "address_id": SHARED_ADDRESS,
                    "created_at": T0,
                },
            ],
        ),
        (
            orders,
            [
                {
                    "id": 100,
                    "customer_id": 1,
                    "shipping_address_id": 11,
                    "placed_at": T0,
                    "total": Decimal("59.80"),
                },
                {
                    "id": 101,
                    "customer_id": 1,
                    "shipping_address_id": SHARED_ADDRESS,
                    "placed_at": T0,
                    "total": Decimal("12.00"),
                },
                {
                    "id": 102,
                    "customer_id": 2,
                    "shipping_address_id": 13,
                    "placed_at": T0,
                    "total": Decimal("5.00"),
                },
            ],
        ),
        (
            order_item,
            [
                {"order_id": 100, "item_no": 1, "product": "Tea", "qty": 2},
                {"order_id": 100, "item_no": 2, "product": "Cups", "qty": 4},
                {"order_id": 101, "item_no": 1, "product": "Tea", "qty": 1},
                {"order_id": 101, "item_no": 2, "product": "Honey", "qty": 1},
                {"order_id": 102, "item_no": 1, "product": "Tea", "qty": 1},
            ],
        ),
        (
            payment_card,
            [
                {
                    "id": 1,
                    "customer_id": 1,
                    "billing_address_id": 12,
                    "holder_name": "A. Berger",
                    "last4": "4242",
                },
            ],
        ),
        (
            login,
            [
                {"id": 1, "customer_id": 1, "ts": T0, "ip": "198.51.100.7"},
                {"id": 2, "customer_id": 3, "ts": T0, "ip": "198.51.100.9"},
            ],
        ),
        (
            visit,
            [
                {"email": ANNA, "last_visit": T0, "page": "/tea"},
                {"email": ANNA, "last_visit": datetime(2026, 3, 2, 9, 0), "page": "/honey"},
                {"email": BEN, "last_visit": T0, "page": "/"},
            ],
        ),
        (
            service_request,
            [
                {
                    "id": 1,
                    "customer_id": 1,
                    "handled_by": 2,
                    "opened_at": T0,
                    "subject": "Parcel not delivered",
                },
            ],
        ),
        (
            newsletter_log,
            [
                {"email": ANNA, "sent_at": T0},
                {"email": ANNA, "sent_at": T0},
                {"email": BEN, "sent_at": T0},
            ],
        ),
    ]
    with engine.begin() as conn:
        for table, data in rows:
            conn.execute(insert(table), data)


CATALOG = """\
controller:
  name: Teeladen Berger GmbH
  address: Lindenweg 1, 01069 Dresden
  email: privacy@shop.example
dpo: {name: Datenschutz, email: dpo@shop.example}
supervisory_authority: {name: Sächsische Datenschutz- und Transparenzbeauftragte}
phone_region: DE
identity_types:
  loyalty_id:
    label: {en: Loyalty card number, de: Kundenkartennummer}
    match: casefold
    pattern: "^loy-[0-9]{4}$"
categories:
  identification: Identification data
  contact: Contact data
  address: Postal address
  orders: Order data
  payment: Payment data
  usage: Usage data
  staff: Staff data
purposes:
  shop: {title: Running the shop, legal_basis: "6(1)(b)"}
  security: {title: Security, legal_basis: "6(1)(f)", legitimate_interest: Detecting attacks}
  staff: {title: Employment, legal_basis: "6(1)(b)"}
tables:
  address:
    title: Addresses
    purpose: shop
    parties:
      resident:
        title: Person at this address
        pointed_by:
          - {table: customer, link: address, party: customer}
          - {table: orders, link: shipping_address, party: customer}
          - {table: payment_card, link: billing_address, party: holder}
    fields:
      street: {party: resident, category: address}
      city: {party: resident, category: address}
      postcode: {party: resident, category: address}
      country: {party: resident, category: address, format: country}
  customer:
    title: Customers
    primary_key: id
    purpose: shop
    links:
      address: {column: address_id, table: address}
    parties:
      customer:
        title: Customer
        one_row: true
        identities:
          email: [email, alt_email]
          phone: phone
          loyalty_id: loyalty_id
    fields:
      email: {party: customer, category: contact, format: email}
      alt_email: {party: customer, category: contact, format: email}
      phone: {party: customer, category: contact, format: phone}
      first_name: {party: customer, category: identification}
      last_name: {party: customer, category: identification}
      loyalty_id: {party: customer, category: identification}
      address_id: {party: customer, category: address}
      created_at: {party: customer, category: identification, format: datetime}
  orders:
    title: Orders
    purpose: shop
    links:
      customer: {column: customer_id, table: customer}
      shipping_address: {column: shipping_address_id, table: address}
    parties:
      customer: {title: Customer, via: {link: customer, party: customer}}
    fields:
      customer_id: {party: customer, category: orders}
      shipping_address_id: {party: customer, category: address}
      placed_at: {party: customer, category: orders, format: datetime}
      total: {party: customer, category: orders, currency: EUR}
  order_item:
    title: Order items
    purpose: shop
    links:
      order: {column: order_id, table: orders}
    parties:
      customer: {title: Customer, via: {link: order, party: customer}}
    fields:
      product: {party: customer, category: orders}
      qty: {party: customer, category: orders}
  payment_card:
    title: Payment cards
    purpose: shop
    links:
      customer: {column: customer_id, table: customer}
      billing_address: {column: billing_address_id, table: address}
    parties:
      holder: {title: Card holder, via: {link: customer, party: customer}}
    fields:
      billing_address_id: {party: holder, category: address}
      holder_name: {party: holder, category: payment}
      last4: {party: holder, category: payment}
  login:
    title: Sign-ins
    purpose: security
    links:
      customer: {column: customer_id, table: customer}
    parties:
      customer: {title: Customer, via: {link: customer, party: customer}}
    fields:
      ts: {party: customer, category: usage, format: datetime}
      ip: {party: customer, category: usage, format: ip}
  visit:
    title: Visits
    purpose: security
    parties:
      visitor: {title: Visitor, identities: {email: email}}
    fields:
      email: {party: visitor, category: contact, format: email}
      last_visit: {party: visitor, category: usage, format: datetime}
      page: {party: visitor, category: usage}
  employee:
    title: Staff
    purpose: staff
    links:
      manager: {column: manager_id, table: employee}
    parties:
      employee: {title: Employee, one_row: true, identities: {email: email}}
      manager:
        title: Manager of this employee
        erase: keep
        via: {link: manager, party: employee}
    fields:
      email: {party: employee, category: staff, format: email}
      name: {party: employee, category: staff}
      manager_id: {party: [employee, manager], category: staff, erase: keep}
  service_request:
    title: Service requests
    purpose: shop
    links:
      customer: {column: customer_id, table: customer}
      handler: {column: handled_by, table: employee}
    parties:
      customer: {title: Customer, via: {link: customer, party: customer}}
      handler:
        title: Staff member handling the request
        erase: keep
        via: {link: handler, party: employee}
    fields:
      opened_at: {party: customer, category: orders, format: datetime}
      subject: {party: customer, category: orders}
      handled_by: {party: [customer, handler], category: staff, erase: keep}
  newsletter_log:
    title: Newsletter dispatch log
    purpose: shop
    parties:
      recipient: {title: Recipient, identities: {email: email}}
    fields:
      email: {party: recipient, category: contact, format: email}
      sent_at: {party: recipient, category: usage, format: datetime}
"""

#: The catalog without the keyless table: erasure refuses a person who has rows there.
CATALOG_ERASABLE = CATALOG[: CATALOG.index("  newsletter_log:\n")]
