"""Tables of the simple resources the flow engine and runner use (variables, …).

Each is a :class:`DocumentModel` (``id``, ``rev``, ``created``, ``updated``, ``doc``) plus the
top-level attributes its keys and indexes need. The README's access-pattern table mirrors this file.
"""

from __future__ import annotations

from chalicelib.storage.model_meta import DocumentModel, TableMeta


class VariableModel(DocumentModel):
    """A variable; its name is unique through a claim ``variable-name/<name>`` in ``uniques``."""

    class Meta(TableMeta):
        table_name = "variables"


RESOURCE_MODELS: tuple[type[DocumentModel], ...] = (VariableModel,)
