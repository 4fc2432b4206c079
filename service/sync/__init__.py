"""Calendar sync: provider adapters, normalizers and the reconciler."""
