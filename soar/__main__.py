from soar.cli import main

main()
