"""The website widget's static files (chatdock.js, chatdock.css), packaged so a plain
`pip install chatdock` serves them too; there is no Python here."""
