from hippo.cli import main

main()
