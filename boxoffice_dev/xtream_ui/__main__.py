from boxoffice_dev.xtream_ui.server import main

main()
