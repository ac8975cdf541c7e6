package forge

import (
	"fmt"
	"net/http"
)

// New returns the Forge of a kind (github, gitea, gitlab, coding) at
// baseURL, authenticated with token.
func New(kind, baseURL, token string, client *http.Client) (Forge, error) {
	switch kind {
	case "github":
		return NewGitHub(baseURL, token, client)
	case "gitea":
		if baseURL == "" {
			return nil, fmt.Errorf("forge gitea: the base URL is required")
		}
		return NewGitea(baseURL, token, client), nil
	case "gitlab":
		return NewGitLab(baseURL, token, client)
	case "coding":
		return NewCoding(baseURL, token, client)
	}
	return nil, fmt.Errorf("unknown forge %q: want github, gitea, gitlab or coding", kind)
}
