from remc_mpi.cli import main

raise SystemExit(main())
