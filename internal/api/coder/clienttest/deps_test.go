package clienttest

import (
	_ "github.com/coder/coder/v2/codersdk"
	_ "github.com/coder/coder/v2/codersdk/agentsdk"
	_ "github.com/vcsauth/vcsauth/internal/core"
)
