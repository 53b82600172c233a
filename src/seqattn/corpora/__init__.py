"""Corpora shipped inside the package (see README.md here for their sources and licences)."""

import pathlib

DIRECTORY = pathlib.Path(__file__).resolve().parent
TATOEBA_ENG_CMN = DIRECTORY / "tatoeba-eng-cmn.tsv"
