package forge

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// action is the exchange of one CODING open API call.
func action(name, body, reply string) exchange {
	return exchange{method: "POST", path: "/open-api", query: url.Values{"Action": {name}}, body: body, reply: reply}
}

func newTestCoding(t *testing.T, script ...exchange) *Coding {
	t.Helper()
	f := newFakeServer(t, http.Header{"Authorization": {"token coding-test"}, "Accept": {"application/json"}}, script...)
	c, err := NewCoding(f.srv.URL, "coding-test", f.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	codingRepo  = "acme/platform/config"
	depotLookup = `{"Action":"DescribeDepotByNameInfo","TeamGk":"acme","ProjectName":"platform","DepotName":"config"}`
	depotReply  = `{"Response":{"Depot":{"Id":809883,"ProjectId":797199,"Name":"config","WebUrl":"https://acme.coding.net/p/platform/d/config"},"RequestId":"r1"}}`
)

func TestCodingSetStatus(t *testing.T) {
	const sha = "da3e8c8f93516bc8e1609e5a91df98439c6c7b49"
	body := func(state, desc, target string) string {
		return `{"Action":"ModifyGitCommitStatus","DepotPath":"acme/platform/config","CommitSha":"` + sha +
			`","Context":"slipway/sync","State":"` + state + `","Description":"` + desc + `","TargetURL":"` + target + `"}`
	}
	ok := `{"Response":{"RequestId":"2cc95576"}}`
	tests := []struct {
		state   State
		want    string
		reply   string
		wantErr string
	}{
		{StatePending, "COMMIT_STATE_PENDING", ok, ""},
		{StateSuccess, "COMMIT_STATE_SUCCESS", ok, ""},
		{StateFailure, "COMMIT_STATE_FAILURE", ok, ""},
		{StateError, "COMMIT_STATE_ERROR", ok, ""},
		{StateSuccess, "COMMIT_STATE_SUCCESS", `{"Response":{"Error":{"Code":"AuthFailure","Message":"token invalid"},"RequestId":"x"}}`, "AuthFailure: token invalid"},
	}
	for _, tt := range tests {
		t.Run(string(tt.state)+tt.wantErr, func(t *testing.T) {
			c := newTestCoding(t, action("ModifyGitCommitStatus", body(tt.want, "synced", "https://slipway.example.com/s/1"), tt.reply))
			err := c.SetStatus(context.Background(), codingRepo, Status{SHA: sha, Context: "slipway/sync", State: tt.state, Description: "synced", TargetURL: "https://slipway.example.com/s/1"})
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestCodingRepositoryNames(t *testing.T) {
	tests := []struct {
		base, repo, want string
	}{
		{"https://acme.coding.net", "platform/config", "acme/platform/config"},
		{"https://acme.coding.net/", "acme/platform/config", "acme/platform/config"},
		{"https://e.coding.net/open-api", "acme/platform/config", "acme/platform/config"},
		{"https://e.coding.net", "platform/config", ""},
		{"https://acme.coding.net", "config", ""},
		{"https://acme.coding.net", "a//b", ""},
	}
	for _, tt := range tests {
		c, err := NewCoding(tt.base, "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.depotPath(tt.repo)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("%s, %s: %q, %v; want %q", tt.base, tt.repo, got, err, tt.want)
		}
	}
	if c, _ := NewCoding("https://acme.coding.net/open-api", "t", nil); c.endpoint != "https://acme.coding.net/open-api" {
		t.Errorf("endpoint %q", c.endpoint)
	}
	if _, err := NewCoding("acme.coding.net", "t", nil); err == nil {
		t.Error("a base URL without scheme was accepted")
	}
}

func TestCodingComments(t *testing.T) {
	reply := `{"Response":{"Notes":[
		{"Note":[{"Id":720,"ParentId":0,"Content":"**Plan**","CreatedAt":1671011875949,"Author":{"GlobalKey":"slipway-bot","Name":"Slipway"}},
		         {"Id":721,"ParentId":720,"Content":"thanks","CreatedAt":1671011999000,"Author":{"GlobalKey":"","Name":"bob"}}]},
		{"Note":[{"Id":707,"ParentId":0,"Content":"/slipway plan","CreatedAt":1670992462000,"Author":{"GlobalKey":"alice","Name":"Alice"}}]}
	],"RequestId":"r"}}`
	c := newTestCoding(t, action("DescribeSingeMergeRequestNotes", `{"Action":"DescribeSingeMergeRequestNotes","DepotPath":"acme/platform/config","MergeId":14}`, reply))
	got, err := c.Comments(context.Background(), codingRepo, 14)
	if err != nil {
		t.Fatal(err)
	}
	want := []Comment{
		{ID: 707, Body: "/slipway plan", Author: "alice"},
		{ID: 720, Body: "**Plan**", Author: "slipway-bot"},
		{ID: 721, Body: "thanks", Author: "bob"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCodingComment(t *testing.T) {
	c := newTestCoding(t, action("CreateMergeRequestNote",
		`{"Action":"CreateMergeRequestNote","DepotPath":"acme/platform/config","MergeId":14,"ParentId":0,"Content":"**Plan** ✓"}`,
		`{"Response":{"Note":{"Id":720,"Content":"**Plan** ✓","MergeId":14,"Author":{"GlobalKey":"slipway-bot"}},"RequestId":"r"}}`))
	got, err := c.Comment(context.Background(), codingRepo, 14, "**Plan** ✓")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Comment{ID: 720, Body: "**Plan** ✓", Author: "slipway-bot"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCodingUnsupported(t *testing.T) {
	c := newTestCoding(t) // no request at all
	ctx := context.Background()
	if err := c.EditComment(ctx, codingRepo, 14, 720, "x"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("EditComment: %v, want ErrUnsupported", err)
	}
	if err := c.React(ctx, codingRepo, 14, 720, ReactionEyes); !errors.Is(err, ErrUnsupported) {
		t.Errorf("React: %v, want ErrUnsupported", err)
	}
	if c.Name() != "coding" || c.MaxCommentSize() <= 0 {
		t.Error("Name or MaxCommentSize")
	}
}

func TestCodingPermission(t *testing.T) {
	members := func(page int, list string, total int) exchange {
		return action("DescribeProjectMembers",
			`{"Action":"DescribeProjectMembers","ProjectId":797199,"PageNumber":`+strconv.Itoa(page)+`,"PageSize":100}`,
			`{"Response":{"Data":{"PageNumber":`+strconv.Itoa(page)+`,"PageSize":100,"ProjectMembers":[`+list+`],"TotalCount":`+strconv.Itoa(total)+`},"RequestId":"r"}}`)
	}
	member := func(key, roles string) string {
		return `{"Id":6,"GlobalKey":"` + key + `","Name":"` + key + `","Roles":[` + roles + `]}`
	}
	role := func(t string) string { return `{"RoleId":1,"RoleType":"` + t + `","RoleTypeName":"x"}` }
	lookup := action("DescribeDepotByNameInfo", depotLookup, depotReply)
	tests := []struct {
		name    string
		script  []exchange
		want    Permission
		wantErr error
	}{
		{"developer", []exchange{lookup, members(1, member("bob", role("ProjectMember"))+","+member("alice", role("ProjectMember")), 2)}, PermissionWrite, nil},
		{"admin", []exchange{lookup, members(1, member("alice", role("ProjectMember")+","+role("ProjectAdmin")), 1)}, PermissionAdmin, nil},
		{"owner", []exchange{lookup, members(1, member("ALICE", role("ProjectOwner")), 1)}, PermissionAdmin, nil},
		{"other role", []exchange{lookup, members(1, member("alice", role("ProjectGuest")), 1)}, PermissionRead, nil},
		{"not a member", []exchange{lookup, members(1, member("bob", role("ProjectMember")), 1)}, PermissionNone, nil},
		{"second page", []exchange{lookup,
			members(1, strings.TrimSuffix(strings.Repeat(member("bob", role("ProjectMember"))+",", 100), ","), 101),
			members(2, member("alice", role("ProjectAdmin")), 101)}, PermissionAdmin, nil},
		{"no such depot", []exchange{action("DescribeDepotByNameInfo", depotLookup, `{"Response":{"RequestId":"r"}}`)}, PermissionNone, ErrNotFound},
		{"depot error", []exchange{action("DescribeDepotByNameInfo", depotLookup, `{"Response":{"Error":{"Code":"ResourceNotFound","Message":"depot not exists"}}}`)}, PermissionNone, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCoding(t, tt.script...)
			got, err := c.Permission(context.Background(), codingRepo, "alice")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("permission = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCodingEnsurePullRequest(t *testing.T) {
	lookup := action("DescribeDepotByNameInfo", depotLookup, depotReply)
	list := func(items string) exchange {
		return action("DescribeDepotMergeRequests",
			`{"Action":"DescribeDepotMergeRequests","DepotId":809883,"Status":"OPEN","SourceBranches":["slipway/bump-web"],"TargetBranches":["main"],"PageNumber":1,"PageSize":10}`,
			`{"Response":{"Data":{"List":[`+items+`],"PageNumber":1,"PageSize":10,"TotalPage":1,"TotalRow":1},"RequestId":"r"}}`)
	}
	pr := PullRequest{Title: "Bump web to 1.2", Body: "From Slipway.", Head: "slipway/bump-web", Base: "main"}
	want := PullRequest{Number: 11, Title: "Bump web to 1.2", Body: "From Slipway.", Head: "slipway/bump-web", Base: "main",
		URL: "https://acme.coding.net/p/platform/d/config/git/merge/11", State: "open"}
	tests := []struct {
		name   string
		script []exchange
	}{
		{"updated", []exchange{lookup,
			list(`{"MergeId":11,"Title":"Bump web to 1.1","SrcBranch":"slipway/bump-web","DesBranch":"main","Status":"CANMERGE"}`),
			action("ModifyGitMergeRequest", `{"Action":"ModifyGitMergeRequest","DepotId":809883,"MergeId":11,"Title":"Bump web to 1.2","Content":"From Slipway."}`, `{"Response":{"RequestId":"r"}}`),
		}},
		{"created", []exchange{lookup,
			list(``),
			action("CreateGitMergeReq", `{"Action":"CreateGitMergeReq","DepotId":809883,"SrcBranch":"slipway/bump-web","DestBranch":"main","Title":"Bump web to 1.2","Content":"From Slipway."}`,
				`{"Response":{"MergeInfo":{"DepotId":809883,"MergeRequestId":11,"ProjectId":797199},"RequestId":"r"}}`),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCoding(t, tt.script...)
			got, err := c.EnsurePullRequest(context.Background(), codingRepo, pr)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("depot looked up once", func(t *testing.T) {
		modify := action("ModifyGitMergeRequest", `{"Action":"ModifyGitMergeRequest","DepotId":809883,"MergeId":11,"Title":"Bump web to 1.2","Content":"From Slipway."}`, `{"Response":{"RequestId":"r"}}`)
		open := list(`{"MergeId":11,"Title":"x","SrcBranch":"slipway/bump-web","DesBranch":"main"}`)
		c := newTestCoding(t, lookup, open, modify, open, modify)
		for range 2 {
			if _, err := c.EnsurePullRequest(context.Background(), codingRepo, pr); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestCodingHTTPErrors(t *testing.T) {
	c := newTestCoding(t,
		exchange{method: "POST", path: "/open-api", query: url.Values{"Action": {"CreateMergeRequestNote"}}, status: 404, reply: `not here`,
			body: `{"Action":"CreateMergeRequestNote","DepotPath":"acme/platform/config","MergeId":1,"ParentId":0,"Content":"x"}`},
		exchange{method: "POST", path: "/open-api", query: url.Values{"Action": {"CreateMergeRequestNote"}}, status: 502, reply: `bad gateway`,
			body: `{"Action":"CreateMergeRequestNote","DepotPath":"acme/platform/config","MergeId":1,"ParentId":0,"Content":"x"}`},
		exchange{method: "POST", path: "/open-api", query: url.Values{"Action": {"CreateMergeRequestNote"}}, reply: `{}`,
			body: `{"Action":"CreateMergeRequestNote","DepotPath":"acme/platform/config","MergeId":1,"ParentId":0,"Content":"x"}`},
	)
	ctx := context.Background()
	if _, err := c.Comment(ctx, codingRepo, 1, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("404: %v, want ErrNotFound", err)
	}
	if _, err := c.Comment(ctx, codingRepo, 1, "x"); err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("502: %v", err)
	}
	if _, err := c.Comment(ctx, codingRepo, 1, "x"); err == nil || !strings.Contains(err.Error(), "no Response") {
		t.Errorf("empty answer: %v", err)
	}
}
