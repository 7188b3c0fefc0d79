"""Reading memory: ranked search across namespaces, and what a user browses."""
