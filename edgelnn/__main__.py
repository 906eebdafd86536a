from edgelnn.cli import main

main()
