from tests.server import ServerProcess


def test_server_answers_authenticated_list(server: ServerProcess) -> None:
    with server.client() as client:
        response = client.get(f"{server.accounts_path()}/Messages.json")
    assert response.status_code == 200
    assert response.json()["messages"] == []
