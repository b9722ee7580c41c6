from matscibench.cli import main

main()
