"""Storage of blocks: block types, schemas and documents (``_models``, ``_repositories``), the
sealing of documents' data (``sealing``), and :class:`store.BlockStore`, what services receive.

Nothing is imported here: ``storage.models`` imports ``_models`` to list the tables, and the rest
is imported on first use (cold start)."""
