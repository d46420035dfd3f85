"""The built-in paper venue and the market paths that drive it (scenarios, recorded history)."""
