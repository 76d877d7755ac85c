"""Pure control-plane logic: configuration edits and the tables derived from them."""
