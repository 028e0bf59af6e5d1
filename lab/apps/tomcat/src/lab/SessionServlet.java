package lab;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The same four routes as lab/apps/session-app.ts, on the servlet container's own sessions:
 * POST /login, GET /profile, POST /logout, POST /password, GET /healthz. Answers name the
 * replica (X-Replica) so the lab can tell where a request landed.
 */
public class SessionServlet extends HttpServlet {
    private static final Pattern USER = Pattern.compile("\"user\"\\s*:\\s*\"([^\"]{1,200})\"");
    private final String replica = System.getProperty("lab.replica", "tomcat");

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse res) throws IOException {
        String path = req.getServletPath() + (req.getPathInfo() == null ? "" : req.getPathInfo());
        if (path.equals("/healthz")) {
            // ?members=N: ready only once this node sees N other cluster members, so that a
            // rolling restart moves on when the node has rejoined (as an operator would wait).
            String wanted = req.getParameter("members");
            int members = clusterMembers();
            if (wanted != null && members < Integer.parseInt(wanted)) {
                send(res, 503, "{\"status\":\"joining\",\"members\":" + members + "}");
            } else {
                send(res, 200, "{\"status\":\"ok\",\"members\":" + members + "}");
            }
        } else if (path.equals("/profile")) {
            HttpSession session = req.getSession(false);
            Object user = session == null ? null : session.getAttribute("user");
            if (user == null) {
                send(res, 401, "{\"error\":\"not logged in\"}");
            } else {
                send(res, 200, "{\"user\":\"" + user + "\",\"replica\":\"" + replica + "\"}");
            }
        } else {
            send(res, 404, "{\"error\":\"not found\"}");
        }
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse res) throws IOException {
        String path = req.getServletPath() + (req.getPathInfo() == null ? "" : req.getPathInfo());
        switch (path) {
            case "/login" -> {
                String body = new String(req.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
                Matcher m = USER.matcher(body);
                if (!m.find()) {
                    send(res, 400, "{\"error\":\"user required\"}");
                    return;
                }
                HttpSession old = req.getSession(false);
                if (old != null) old.invalidate();
                HttpSession session = req.getSession(true);
                session.setAttribute("user", m.group(1));
                session.setAttribute("loginAt", System.currentTimeMillis());
                send(res, 200, "{\"user\":\"" + m.group(1) + "\",\"replica\":\"" + replica + "\"}");
            }
            case "/logout" -> {
                HttpSession session = req.getSession(false);
                if (session != null) session.invalidate();
                res.setStatus(204);
                res.setHeader("X-Replica", replica);
            }
            case "/password" -> {
                HttpSession session = req.getSession(false);
                if (session == null || session.getAttribute("user") == null) {
                    send(res, 401, "{\"error\":\"not logged in\"}");
                    return;
                }
                // A password change rotates the session id (session fixation defence), as the Node app does.
                req.changeSessionId();
                session.setAttribute("passwordChangedAt", System.currentTimeMillis());
                send(res, 200, "{\"user\":\"" + session.getAttribute("user") + "\",\"replica\":\"" + replica + "\"}");
            }
            default -> send(res, 404, "{\"error\":\"not found\"}");
        }
    }

    /** Members this node's cluster channel sees, from the Tribes membership MBean (-1: none found). */
    private static int clusterMembers() {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        try {
            for (ObjectName name : server.queryNames(new ObjectName("*:component=Membership,*"), null)) {
                Object members = server.getAttribute(name, "MembersByName");
                if (members instanceof String[] names) return names.length;
            }
        } catch (Exception e) {
            return -1;
        }
        return -1;
    }

    private void send(HttpServletResponse res, int status, String json) throws IOException {
        res.setStatus(status);
        res.setHeader("X-Replica", replica);
        res.setContentType("application/json");
        res.getWriter().write(json);
    }
}
