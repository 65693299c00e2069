"""Tables of the demo database: the COMPAREX Cloud Center described in the seed policy.

Partners register for the Cloud Partner Program (with contact persons), create reseller
customers (with a contact person each) and accounts for their employees; a customer's agent
accepts the Microsoft Cloud Agreement (name, position, IP); the web server logs usage; visitors
send contact forms and subscribe to the newsletter; partners receive invoices.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    func,
)

from dsr.catalog.indexes import strip_formatting

metadata = MetaData()

# BigInteger ids so the benchmark's 10M-row logs fit; SQLite needs INTEGER for rowid aliasing.
BigId = BigInteger().with_variant(Integer(), "sqlite")

partners = Table(
    "partners",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_name", String(200), nullable=False),
    Column("street", String(200), nullable=False),
    Column("postal_code", String(10), nullable=False),
    Column("city", String(100), nullable=False),
    Column("country", String(2), nullable=False),
    Column("region", String(100), nullable=False),
    Column("employee_count", Integer, nullable=False),
    Column("pc_count", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("inquiry_email", String(254), nullable=False),
    Column("mpn_id", String(20)),
    Column("vat_id", String(20)),
    Column("website", String(200)),
    Column("billing_address", String(300)),
    Column("registered_at", DateTime, nullable=False),
    Column("contract_end", Date),
)

partner_contacts = Table(
    "partner_contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("partner_id", Integer, ForeignKey("partners.id"), nullable=False),
    Column("salutation", String(20)),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("position", String(100)),
    Column("department", String(100)),
    Column("email", String(254), nullable=False),
    Column("phone", String(40), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

user_accounts = Table(
    "user_accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("partner_id", Integer, ForeignKey("partners.id"), nullable=False),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("email", String(254), nullable=False),
    Column("phone", String(40)),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_login_at", DateTime),
)

customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("partner_id", Integer, ForeignKey("partners.id"), nullable=False),
    Column("customer_number", String(20)),
    Column("company_name", String(200), nullable=False),
    Column("street", String(200), nullable=False),
    Column("postal_code", String(10), nullable=False),
    Column("city", String(100), nullable=False),
    Column("country", String(2), nullable=False),
    Column("region", String(100), nullable=False),
    Column("address_extra", String(200)),
    Column("markup_percent", Numeric(5, 2), nullable=False),
    Column("credit_limit_eur", Numeric(12, 2), nullable=False),
    Column("contact_first_name", String(100), nullable=False),
    Column("contact_last_name", String(100), nullable=False),
    Column("contact_email", String(254), nullable=False),
    Column("contact_phone", String(40), nullable=False),
    Column("created_by", Integer, ForeignKey("user_accounts.id"), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

mca_acceptances = Table(
    "mca_acceptances",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "customer_id",
        Integer,
        ForeignKey("customers.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("position", String(100), nullable=False),
    Column("email", String(254), nullable=False),
    Column("ip_address", String(45), nullable=False),
    Column("accepted_at", DateTime, nullable=False),
    Column("agreement_version", String(20), nullable=False),
)

usage_log = Table(
    "usage_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ts", DateTime, nullable=False),
    Column("ip", String(45)),
    Column("user_agent", String(300)),
    Column("referrer", String(300)),
    Column("file_name", String(300), nullable=False),
    Column("bytes_sent", Integer, nullable=False),
    Column("status", Integer, nullable=False),
    Column("user_account_id", Integer, ForeignKey("user_accounts.id")),
)

contact_requests = Table(
    "contact_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("received_at", DateTime, nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=False),
    Column("phone", String(40)),
    Column("company", String(200)),
    Column("topic", String(100), nullable=False),
    Column("message", Text, nullable=False),
    Column("answered_at", DateTime),
)

newsletter_subscriptions = Table(
    "newsletter_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False),
    Column("first_name", String(100)),
    Column("topics", String(200), nullable=False),
    Column("consented_at", DateTime, nullable=False),
    Column("consent_text_version", String(20), nullable=False),
    Column("unsubscribed_at", DateTime),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("partner_id", Integer, ForeignKey("partners.id"), nullable=False),
    Column("invoice_number", String(20), nullable=False),
    Column("issued_at", Date, nullable=False),
    Column("amount_eur", Numeric(12, 2), nullable=False),
    Column("billing_name", String(200), nullable=False),
    Column("billing_email", String(254), nullable=False),
    Column("billing_address", String(300), nullable=False),
)

# ddl_if takes a tuple of dialect names at run time; the stubs only know one name.
_EXPRESSION_INDEXES: Any = ("sqlite", "postgresql")
_CI_COLLATION: Any = ("mysql", "mariadb")

# Lookup indexes a real deployment would have (the ones `dsr catalog check` asks for).
# Case-insensitive email lookups use lower() on SQLite and PostgreSQL; MariaDB has no
# expression indexes but compares with a _ci collation. Telephone numbers are compared with
# their formatting stripped, which only SQLite and PostgreSQL can index.
Index("ix_partner_contacts_email", func.lower(partner_contacts.c.email)).ddl_if(
    dialect=_EXPRESSION_INDEXES
)
Index("ix_partner_contacts_email_ci", partner_contacts.c.email).ddl_if(dialect=_CI_COLLATION)
Index("ix_partner_contacts_phone", strip_formatting(partner_contacts.c.phone)).ddl_if(
    dialect=_EXPRESSION_INDEXES
)
Index("ix_partner_contacts_partner", partner_contacts.c.partner_id)
Index("ix_user_accounts_email", func.lower(user_accounts.c.email)).ddl_if(
    dialect=_EXPRESSION_INDEXES
)
Index("ix_user_accounts_email_ci", user_accounts.c.email).ddl_if(dialect=_CI_COLLATION)
Index("ix_user_accounts_phone", strip_formatting(user_accounts.c.phone)).ddl_if(
    dialect=_EXPRESSION_INDEXES
)
Index("ix_customers_contact_email", func.lower(customers.c.contact_email)).ddl_if(
    dialect=_EXPRESSION_INDEXES
)
Index("ix_customers_contact_email_ci", customers.c.contact_email).ddl_if(dialect=_CI_COLLATION)
Index("ix_customers_contact_phone", strip_formatting(customers.c.contact_phone)).ddl_if(
    dialect=_EXPRESSION_INDEXES
)
Index("ix_customers_number", customers.c.customer_number)
Index("ix_customers_created_by", customers.c.created_by)
Index("ix_customers_partner", customers.c.partner_id)
Index("ix_user_accounts_partner", user_accounts.c.partner_id)
Index("ix_mca_email", func.lower(mca_acceptances.c.email)).ddl_if(dialect=_EXPRESSION_INDEXES)
Index("ix_mca_email_ci", mca_acceptances.c.email).ddl_if(dialect=_CI_COLLATION)
Index("ix_mca_customer", mca_acceptances.c.customer_id)
Index("ix_mca_ip", mca_acceptances.c.ip_address)
Index("ix_contact_requests_phone", strip_formatting(contact_requests.c.phone)).ddl_if(
    dialect=_EXPRESSION_INDEXES
)
Index("ix_usage_log_ts", usage_log.c.ts)
Index("ix_usage_log_account", usage_log.c.user_account_id)
Index("ix_usage_log_ip", usage_log.c.ip)
Index("ix_contact_requests_email", func.lower(contact_requests.c.email)).ddl_if(
    dialect=_EXPRESSION_INDEXES
)
Index("ix_contact_requests_email_ci", contact_requests.c.email).ddl_if(dialect=_CI_COLLATION)
Index("ix_newsletter_email", func.lower(newsletter_subscriptions.c.email)).ddl_if(
    dialect=_EXPRESSION_INDEXES
)
Index("ix_newsletter_email_ci", newsletter_subscriptions.c.email).ddl_if(dialect=_CI_COLLATION)
Index("ix_invoices_partner", invoices.c.partner_id)
Index("ix_invoices_billing_email", func.lower(invoices.c.billing_email)).ddl_if(
    dialect=_EXPRESSION_INDEXES
)
Index("ix_invoices_billing_email_ci", invoices.c.billing_email).ddl_if(dialect=_CI_COLLATION)
