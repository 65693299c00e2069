"""The toolkit secret and what is derived from it: HKDF subkeys, keyed pseudonyms, sealing.

* :mod:`dsr.crypto.keys`: where the secret comes from (``DSR_SECRET``, a key file of mode
  0600, an embedder's :class:`~dsr.crypto.keys.KeyProvider`), subkeys per purpose, pseudonyms;
* :mod:`dsr.crypto.seal`: AES-GCM sealing of what the ledger keeps encrypted (identities of
  requests and holds, supplementary statements, delivered packages).

Nothing here knows the ledger; the ledger, the portability package and the rights use it.
"""
