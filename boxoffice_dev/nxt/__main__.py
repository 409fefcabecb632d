from boxoffice_dev.nxt.server import main

main()
