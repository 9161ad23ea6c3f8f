from tradewind.cli import app

app(prog_name="tradewind")
