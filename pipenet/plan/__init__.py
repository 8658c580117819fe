"""Planning: the IR and the record become an ordered list of operations (`ops`), each undoable."""
