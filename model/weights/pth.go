package weights

import "fmt"

// OpenPth reads a PyTorch state dict. (Filled in by the .pth reader.)
func OpenPth(path string) (Set, error) {
	return nil, fmt.Errorf("%s: .pth reading not implemented yet", path)
}
