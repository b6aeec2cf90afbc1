"""Variables: one item each; the name is unique through a claim (a rename moves it)."""

from __future__ import annotations

from chalicelib.schemas.variables import Variable
from chalicelib.storage.documents import DocumentRepository, Unique
from chalicelib.storage.resource_models import VariableModel


class VariableRepository(DocumentRepository[Variable]):
    model = VariableModel
    schema = Variable
    kind = "Variable"
    unique = Unique("name", "variable-name", lambda name: f"A variable with the name {name!r} already exists.")
