from remc_mpi.ui.cli import main

raise SystemExit(main())
