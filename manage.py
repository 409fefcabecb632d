#!/usr/bin/env python
from boxoffice.cli import main

if __name__ == "__main__":
    main()
