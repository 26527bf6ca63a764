// Command diffuapriel is an interactive terminal playground for
// masked-diffusion language models (DiffuApriel and its hybrid and
// Transformer siblings). With no arguments it opens the playground on the
// embedded default model; `diffuapriel help` lists the other commands.
package main

import (
	"os"

	"diffuapriel/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
