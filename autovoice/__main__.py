from autovoice.cli import main

raise SystemExit(main())
