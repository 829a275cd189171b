"""Privacy rights: access (dsar), deletion (delete) and PII removal (delete_pii) requests,
applied after Stitch across every table, the raw landing files and the outboxes; deleted
identifiers kept only as salted hashes so that ingest never brings a deleted person back.

- :mod:`.requests`: parse and store requests (feed or CLI), reject malformed ones.
- :mod:`.suppression`: normalise and hash identifiers; the suppression table ingest consults.
- :mod:`.matching`: which records a request matches (direct, connected, source key).
- :mod:`.tables`: DELETE / UPDATE every Delta table of the deployment, then VACUUM.
- :mod:`.files`: rewrite a raw file (text, Parquet, zip/tar, PGP) without the person's
  rows; the outbox files. :mod:`.landing`: which landed rows are a deleted person's
  (feeds, event sources) and the request files' lines once applied.
- :mod:`.dsar`: the access report.  :mod:`.assets`: the ``privacy`` asset group.
"""
