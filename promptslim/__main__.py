from promptslim.cli import main

main()
