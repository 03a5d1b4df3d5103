from mycpaas.cli import main

raise SystemExit(main())
