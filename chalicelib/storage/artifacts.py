"""Artifacts: one item each; a key's versions through the ``by-key`` index (newest = latest)."""

from __future__ import annotations

from chalicelib.schemas.artifacts import Artifact
from chalicelib.storage.documents import DocumentRepository
from chalicelib.storage.resource_models import ArtifactModel


class ArtifactRepository(DocumentRepository[Artifact]):
    model = ArtifactModel
    schema = Artifact
    kind = "Artifact"
    top_level = ("key",)

    def latest(self, key: str) -> Artifact:
        """The newest artifact with ``key`` (one Query of ``by-key``, newest first, limit 1)."""
        for artifact in self.query(ArtifactModel.by_key, key, limit=1, descending=True):
            return artifact
        raise self.not_found(key)
