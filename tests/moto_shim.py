"""Moved to :mod:`devstack.moto_shim` (the local stack applies it to its moto server too)."""

from devstack.moto_shim import installed, transact_write_items

__all__ = ["installed", "transact_write_items"]
