"""A module the web app must never import: a test names it in a URL, as an attacker names any
module (``/components/<module>/<attr>/...``), and checks ``sys.modules`` afterwards."""

css = ["x.css"]
