package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
)

// registryOptions name where the credentials for oci:// registries come
// from: --registry-config FILE, else the docker config.
type registryOptions struct {
	config string
}

func (o *registryOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.config, "registry-config", "", "read OCI registry credentials from the docker config `FILE` (default $DOCKER_CONFIG/config.json or ~/.docker/config.json), outside the repository")
}

// path returns the docker config file to read and the flag or variable
// that chose it, as docker and oras-go choose it.
func (o *registryOptions) path() (file, from string) {
	if o.config != "" {
		return o.config, "--registry-config"
	}
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		return filepath.Join(dir, "config.json"), "DOCKER_CONFIG"
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", ""
	}
	return filepath.Join(home, ".docker", "config.json"), "~/.docker/config.json"
}

// credentials returns the registry credential store. src is the inventory
// under review: a config file inside its repository is refused (exit 2),
// as trust roots are, since whoever changes the repository would choose
// which registry account reads or signs. A missing default file means
// anonymous access; a missing --registry-config is an error.
func (o *registryOptions) credentials(src *inventory.Source) (credentials.Store, error) {
	file, from := o.path()
	if file == "" {
		return nil, nil
	}
	in, err := gate.Inside(src, file)
	if err != nil {
		return nil, usageError(fmt.Errorf("%s %s: %w", from, file, err))
	}
	if in {
		return nil, usageError(fmt.Errorf("%s %s: registry credentials must come from outside the repository under review: keep the file outside it", from, file))
	}
	if o.config != "" {
		if _, err := os.Stat(file); err != nil {
			return nil, usageError(fmt.Errorf("--registry-config: %w", err))
		}
	}
	store, err := credentials.NewStore(file, credentials.StoreOptions{})
	if err != nil {
		return nil, usageError(fmt.Errorf("%s %s: %w", from, file, err))
	}
	return store, nil
}
