"""Small plugins used by the admin shell tests (never installed in a real shop)."""
