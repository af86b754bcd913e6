"""The commands (``mser-data``, ``mser-train``, ``mser-search``, ``mser-ensemble``, ``mser-promote``,
``mser-models``, ``mser-predict``, ``mser-report``, ``mser-ui``, ``mser-server``): each parses its
arguments, then calls the packages below it (:mod:`mser`, :mod:`tracking`, :mod:`search`,
:mod:`report`); what they share (data and tracking options, errors as one line) is :mod:`cli.common`.
Nothing below imports this package."""
