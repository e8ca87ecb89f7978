from scorecast.cli import main

raise SystemExit(main())
