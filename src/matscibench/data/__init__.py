"""Plumbing every dataset shares: fetch + sha256 + cache, content hashes, cached tables and
arrays, splits, structure conversion; and CDVAE's structures, which several families read."""
