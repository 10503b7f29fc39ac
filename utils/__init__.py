"""Shared helpers of the mnist-sub20k workbook: data, models, training, plots.

Importing them checks that the installed torch and torchvision are at least the versions
requirements.txt names (the oldest the tests and notebooks pass with): Colab and Kaggle
come with their own, which may be older. It warns and says what to do; it never stops."""
import re
import sys
from importlib import metadata
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements.txt"


def version_tuple(text):
    """(2, 14, 1) for '2.14.1+cu130': the leading numbers, what the lower bounds compare."""
    numbers = []
    for part in text.split("+")[0].split("."):
        digits = re.match(r"\d*", part).group()
        if digits:
            numbers.append(int(digits))
        if not digits or digits != part:  # '0rc1': the release candidate of .0
            break
    return tuple(numbers)


def lower_bounds(requirements=REQUIREMENTS):
    """{package: 'version'} for the `name>=version` lines of requirements.txt."""
    bounds = {}
    for line in requirements.read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition(">=")
        if version:
            bounds[name.strip()] = version.strip()
    return bounds


def outdated(packages=("torch", "torchvision"), requirements=REQUIREMENTS, installed=metadata.version):
    """[(package, installed version, lower bound)] for each of `packages` older than its bound."""
    bounds = lower_bounds(requirements) if requirements.exists() else {}
    found = []
    for name in packages:
        try:
            version = installed(name)
        except metadata.PackageNotFoundError:
            continue  # not installed: the import that needs it will say so
        if name in bounds and version_tuple(version) < version_tuple(bounds[name]):
            found.append((name, version, bounds[name]))
    return found


for _name, _version, _bound in outdated():
    print(f"WARNING: {_name} {_version} is older than {_bound}, the oldest this workbook is tested "
          f"with; some cells may fail. Upgrade it: pip install -U torch torchvision "
          "(in Colab or Kaggle: !pip install -U torch torchvision, then Runtime > Restart session), "
          "or pip install -r requirements.txt.", file=sys.stderr)
