"""Other tools' topology files, to and from `.pn`: containerlab's (`pipenet import`, `pipenet export --format
clab`).

A converter reads the other format keeping where each value was written, so
that every field it cannot carry is one located line (`FILE:LINE:COL`), and
writes text the front end reads like any other file. It sits with the front
end: it reads a `.pn` through `pipenet.lang` and knows nothing of the kernel.
"""
