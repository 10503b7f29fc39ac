# nbval collects the notebooks of this folder; the book's build (notebooks/_build/, see
# _config.yml) holds copies of them, which are not collected.
collect_ignore = ["_build"]
