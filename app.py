"""The NiN dashboard: configure Network in Network, train it on Fashion-MNIST, look inside it, try it."""

from pages.state import app_navigation

app_navigation().run()
