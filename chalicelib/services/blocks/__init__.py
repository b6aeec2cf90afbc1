"""Blocks' use cases: the catalog (``catalog``), block types and schemas (``types``), block
documents with their secrets and references (``documents``)."""
