"""Provider adapters, one folder each; service.sync.registry picks them."""
