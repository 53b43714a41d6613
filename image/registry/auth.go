package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// A challenge is one WWW-Authenticate entry.
type challenge struct {
	Scheme string // lower case: "bearer", "basic"
	Params map[string]string
}

// parseChallenges parses WWW-Authenticate header values such as
// `Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"`.
func parseChallenges(values []string) []challenge {
	var out []challenge
	for _, v := range values {
		s := strings.TrimSpace(v)
		for s != "" {
			i := strings.IndexAny(s, " \t")
			scheme := s
			if i >= 0 {
				scheme, s = s[:i], strings.TrimSpace(s[i:])
			} else {
				s = ""
			}
			ch := challenge{Scheme: strings.ToLower(scheme), Params: map[string]string{}}
			for s != "" {
				eq := strings.IndexByte(s, '=')
				if eq < 0 {
					break
				}
				key := strings.ToLower(strings.TrimSpace(s[:eq]))
				if strings.ContainsAny(key, " \t,") {
					break // the next challenge's scheme
				}
				s = strings.TrimSpace(s[eq+1:])
				var val string
				if strings.HasPrefix(s, `"`) {
					var b strings.Builder
					j := 1
					for ; j < len(s) && s[j] != '"'; j++ {
						if s[j] == '\\' && j+1 < len(s) {
							j++
						}
						b.WriteByte(s[j])
					}
					val = b.String()
					s = s[min(j+1, len(s)):]
				} else {
					j := strings.IndexByte(s, ',')
					if j < 0 {
						j = len(s)
					}
					val, s = strings.TrimSpace(s[:j]), s[j:]
				}
				ch.Params[key] = val
				s = strings.TrimSpace(s)
				if strings.HasPrefix(s, ",") {
					s = strings.TrimSpace(s[1:])
				}
			}
			out = append(out, ch)
		}
	}
	return out
}

type cachedAuth struct {
	header  string
	expires time.Time
}

func (c *Client) cachedAuthorization(host, scope string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range []string{host + "|" + scope, host + "|*"} {
		if a, ok := c.auth[k]; ok {
			if a.expires.IsZero() || time.Now().Before(a.expires) {
				return a.header
			}
			delete(c.auth, k)
		}
	}
	return ""
}

func (c *Client) storeAuthorization(key, header string, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := cachedAuth{header: header}
	if ttl > 0 {
		a.expires = time.Now().Add(ttl)
	}
	c.auth[key] = a
}

// login returns the credentials for a registry domain: explicit ones from
// Login win over the credentials file.
func (c *Client) login(domain string) (user, pass string, ok bool, err error) {
	if o := c.loginOverride; o != nil {
		return o.user, o.pass, true, nil
	}
	return c.cfg.Credentials.Get(domain)
}

// authorize answers a 401 for host with the challenges it sent, and
// caches the Authorization header to use for scope.
func (c *Client) authorize(ctx context.Context, domain, host, scope string, chs []challenge, user, pass string, haveCreds bool) error {
	for _, ch := range chs {
		switch ch.Scheme {
		case "bearer":
			tok, ttl, err := c.fetchToken(ctx, ch, scope, user, pass, haveCreds)
			if err != nil {
				return err
			}
			c.storeAuthorization(host+"|"+scope, "Bearer "+tok, ttl)
			return nil
		case "basic":
			if !haveCreds {
				return &HTTPError{Method: "GET", URL: host, Status: http.StatusUnauthorized,
					Message: "authentication required: log in to " + domain + " first"}
			}
			c.storeAuthorization(host+"|*", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)), 0)
			return nil
		}
	}
	return &HTTPError{Method: "GET", URL: host, Status: http.StatusUnauthorized, Message: "no supported authentication scheme offered"}
}

func (c *Client) fetchToken(ctx context.Context, ch challenge, scope, user, pass string, haveCreds bool) (string, time.Duration, error) {
	realm := ch.Params["realm"]
	u, err := url.Parse(realm)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", 0, fmt.Errorf("registry token realm %q: not an http(s) URL", realm)
	}
	q := u.Query()
	if s := ch.Params["service"]; s != "" {
		q.Set("service", s)
	}
	if scope != "" {
		q.Set("scope", scope)
	} else if s := ch.Params["scope"]; s != "" {
		q.Set("scope", s)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("User-Agent", c.userAgent())
	if haveCreds {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.httpClient(u.Host, c.skipVerify(u.Host)).Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("registry token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		he := httpError(resp).(*HTTPError)
		if resp.StatusCode == http.StatusUnauthorized && he.Message == "" {
			he.Message = "incorrect username or password"
		}
		return "", 0, fmt.Errorf("registry token: %w", he)
	}
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tr); err != nil {
		return "", 0, fmt.Errorf("registry token: %w", err)
	}
	tok := tr.Token
	if tok == "" {
		tok = tr.AccessToken
	}
	if tok == "" {
		return "", 0, fmt.Errorf("registry token: empty token in answer from %s", u.Host)
	}
	ttl := time.Duration(tr.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 60 * time.Second
	}
	// Renew a little before the registry stops accepting the token.
	return tok, ttl - ttl/10, nil
}
