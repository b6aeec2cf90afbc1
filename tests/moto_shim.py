"""Moved to :mod:`chalicelib.local.moto_shim` (the local stack applies it to its moto server too)."""

from chalicelib.local.moto_shim import installed, transact_write_items

__all__ = ["installed", "transact_write_items"]
