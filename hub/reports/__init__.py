"""Statistics, monthly bulletins, 双公示 disclosure and the credit-list feed (issue 13)."""
