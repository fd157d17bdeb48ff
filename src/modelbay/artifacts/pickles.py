"""Recognising pickles, which modelbay never loads: they run code when they are opened."""

from __future__ import annotations

__all__ = ["PICKLE_SUFFIXES", "sniff_pickle"]

# file names of pickle-based weights and models (torch, joblib, Keras HDF5, Flax msgpack)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".h5", ".msgpack")


def sniff_pickle(data: bytes) -> bool:
    """True for bytes that look like a pickle stream (protocol 2+ starts with 0x80)."""
    return len(data) > 2 and data[0] == 0x80 and data[1] <= 5
