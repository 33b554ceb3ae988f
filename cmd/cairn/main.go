// Command cairn keeps a git repository of CUE files as a trusted inventory of
// production ML models: it validates, signs, applies and watches it.
package main

import "os"

func main() { os.Exit(run(os.Args[1:])) }
